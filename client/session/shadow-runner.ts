/**
 * A rollout's shadow version: fetched when the running manifest advertises
 * one, run on a sample of answered predictions, and compared with the
 * production answer. The shadow's output never reaches the app; only the
 * comparison window goes out with telemetry.
 */
import * as tf from '@tensorflow/tfjs';
import type { Manifest } from '../../shared/protocol/index.ts';
import type { FlockEvents } from '../events.ts';
import type { FlockTransport } from '../federated/transport.ts';
import type { Prediction, Predictor } from '../inference/index.ts';
import { loadShadow, shadowAdvertised, type LoadedShadow } from '../shadow-loader.ts';
import { ShadowSampler, ShadowWindow, type ShadowEvent } from '../shadow.ts';
import type { ClientStore } from '../storage/index.ts';
import type { DeviceIdentity } from './device-identity.ts';
import type { ModelSession } from './model-session.ts';

export interface ShadowRunnerOptions {
  /** false when the app opted out (`connect({ shadow: false })`). */
  enabled: boolean;
  app: string;
  publicKey?: string;
  store: ClientStore;
  transport: FlockTransport;
  session: ModelSession;
  identity: DeviceIdentity;
  events: FlockEvents;
}

export class ShadowRunner {
  readonly #options: ShadowRunnerOptions;
  readonly #sampler = new ShadowSampler();
  #shadow: LoadedShadow | null = null;
  #window: ShadowWindow | null = null;
  /** Whether the last manifest said its rollout runs a shadow (only then is the shadow route asked). */
  #advertised = false;
  /** The last refresh (refreshes chain onto it), and the comparisons not yet added to the window. */
  #refreshing: Promise<void> = Promise.resolve();
  readonly #comparing = new Set<Promise<void>>();

  constructor(options: ShadowRunnerOptions) {
    this.#options = options;
  }

  /** Whether a shadow version is loaded (predictions may then be compared). */
  get running(): boolean {
    return this.version !== null;
  }

  /** The shadow version loaded, or null. */
  get version(): number | null {
    return this.#shadow?.version ?? null;
  }

  /** Resolves once the refreshes started so far are done (never rejects). */
  refreshed(): Promise<void> {
    return this.#refreshing;
  }

  /** Resolves once the refreshes and every comparison started so far are done (never rejects). */
  async settled(): Promise<void> {
    await this.#refreshing;
    await Promise.all(this.#comparing);
  }

  /** Records what the latest manifest says about a shadow. */
  noteManifest(manifest: Pick<Manifest, 'rollout'> | null | undefined): void {
    this.#advertised = shadowAdvertised(manifest);
  }

  /** Picks up (or drops) the rollout's shadow version; failures only mean no shadowing. Refreshes run one at a time. */
  refresh(): Promise<void> {
    this.#refreshing = this.#refreshing.then(() => this.#refresh()).catch(() => {});
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const { enabled, app, publicKey, store, transport, session, identity, events } = this.#options;
    if (!enabled || session.backend === 'cpu' || !identity.current || session.closed) return;
    // Shadowing is optional: an assignment that cannot be fetched means no shadow, never a broken app.
    const assignment = this.#advertised ? await transport.getShadowAssignment(app).catch(() => null) : null;
    if (assignment?.version === this.#shadow?.version) {
      if (this.#shadow && assignment) this.#shadow.sampleRate = assignment.sampleRate;
      return;
    }
    const old = this.#shadow;
    this.#shadow = null;
    old?.model.dispose();
    if (!assignment) return;
    const key = publicKey ?? (await store.getPointer(app)).trustedPublicKey;
    if (!key) return;
    try {
      const loaded = await loadShadow(transport, assignment, key, app, session.slowBackend);
      if (session.closed) {
        loaded.model.dispose();
        return;
      }
      this.#shadow = loaded;
      this.#window = new ShadowWindow(loaded.version);
    } catch (error) {
      events.emit('error', {
        error: error instanceof Error ? error : new Error(String(error)),
        during: 'model-update',
      });
    }
  }

  /** Runs the shadow on a sampled prediction after it was answered (failures only lose that comparison). */
  compare(input: Parameters<Predictor['predict']>[0], production: Prediction): Promise<void> {
    const comparing = this.#compare(input, production).catch(() => {});
    this.#comparing.add(comparing);
    void comparing.then(() => this.#comparing.delete(comparing));
    return comparing;
  }

  async #compare(input: Parameters<Predictor['predict']>[0], production: Prediction): Promise<void> {
    const running = this.#shadow;
    const current = this.#options.session.current;
    const window = this.#window;
    if (!running || !current || !this.#options.identity.current || !window) return;
    if (!this.#sampler.next(running.sampleRate)) return;
    // The production predictor's features: the version's preprocessing for raw input, as predict() used.
    const vector = await this.#options.session.live().predictor.features(input);
    const shape = current.stored.inputSpec.shape.map((d) => d ?? 1);
    const started = performance.now();
    const output = tf.tidy(() => (running.model.predict(tf.tensor(vector, shape)) as tf.Tensor).argMax(-1));
    const label = (await output.data())[0];
    output.dispose();
    window.add(
      { label: String(production.label), latencyMs: production.latencyMs },
      { label: String(label), latencyMs: performance.now() - started },
    );
  }

  /** The comparison window's event (and a fresh window), or undefined when nothing was compared. */
  takeComparison(at: string): ShadowEvent | null | undefined {
    return this.#window?.take(at);
  }

  dispose(): void {
    this.#shadow?.model.dispose();
    this.#shadow = null;
  }
}
