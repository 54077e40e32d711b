/**
 * The device's identity with the coordinator (device id + bearer token):
 * read from the store at connect(), registered on first need, and kept in the
 * transport so every request carries it.
 */
import { PROTOCOL_VERSION } from '../../shared/protocol/fields.ts';
import type { BackendCapabilities, BackendName } from '../backends/select.ts';
import type { FlockTransport } from '../federated/transport.ts';
import type { ClientStore, DeviceRecord } from '../storage/index.ts';

export interface DeviceIdentityOptions {
  app: string;
  store: ClientStore;
  transport: FlockTransport;
  capabilities: BackendCapabilities;
  /** The backend to report at registration (it may change after connect()). */
  backend: () => BackendName;
}

export class DeviceIdentity {
  readonly #options: DeviceIdentityOptions;
  #device: DeviceRecord | null;

  /** `stored` is what the store held at connect() (null on a first start). */
  constructor(options: DeviceIdentityOptions, stored: DeviceRecord | null) {
    this.#options = options;
    this.#device = stored;
    if (stored) options.transport.setToken(stored.token);
  }

  /** The identity if this device has registered, else null (no request is made). */
  get current(): DeviceRecord | null {
    return this.#device;
  }

  /** The identity, registering the device first if it has none. */
  async ensure(): Promise<DeviceRecord> {
    if (this.#device) return this.#device;
    const { app, store, transport, capabilities } = this.#options;
    const registered = await transport.register({
      app,
      platform: {
        runtime: typeof document === 'undefined' ? 'worker' : 'browser',
        userAgent: globalThis.navigator?.userAgent?.slice(0, 512),
      },
      capabilities: {
        webgpu: capabilities.webgpu.available,
        webgl: capabilities.webgl.available,
        wasmSimd: capabilities.wasm.simd,
        wasmThreads: capabilities.wasm.threads,
        backend: this.#options.backend(),
      },
      protocolVersion: PROTOCOL_VERSION,
    });
    // A page and the service worker share this store and may both register on
    // first start: keep whichever identity was stored first, so cohorts agree.
    const stored = await store.getDevice(app);
    if (stored) {
      this.#device = stored;
      transport.setToken(stored.token);
      return stored;
    }
    this.#device = { app, deviceId: registered.deviceId, token: registered.token };
    await store.putDevice(this.#device);
    return this.#device;
  }
}
