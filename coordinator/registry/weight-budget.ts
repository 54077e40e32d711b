/**
 * A topology may ask tfjs for far more weights than its files hold: a 909-byte
 * model.json declaring a 20000 x 20000 Dense layer makes `loadLayersModel`
 * allocate 1.6 GB of initial values before the weights are compared. Every
 * layer weight is created through `Layer.addWeight` with its shape, before any
 * initializer runs, so a budget checked there refuses such a model having
 * allocated nothing. The budget lives in an AsyncLocalStorage: only loads run
 * inside `withWeightBudget` are counted, never models built elsewhere in the
 * process (the simulator, the demo seed).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as tf from '@tensorflow/tfjs';
import { ModelPackageError } from './model-package-error.ts';

interface Budget {
  /** Elements the weight files declare; the topology may not ask for more. */
  declared: number;
  used: number;
}

const budgets = new AsyncLocalStorage<Budget>();
let installed = false;

type AddWeight = (this: tf.layers.Layer, name: string, shape: number[], ...rest: unknown[]) => unknown;

function install(): void {
  if (installed) return;
  installed = true;
  // Boundary cast: addWeight is protected in tfjs-layers' types; it is the one place every layer allocates a weight.
  const proto = tf.layers.Layer.prototype as unknown as { addWeight: AddWeight };
  const addWeight = proto.addWeight;
  proto.addWeight = function budgetedAddWeight(this: tf.layers.Layer, name, shape, ...rest) {
    const budget = budgets.getStore();
    if (budget) {
      const elements = shape.reduce((n, d) => n * d, 1);
      budget.used += elements;
      if (budget.used > budget.declared) {
        throw new ModelPackageError(
          'topology_mismatch',
          `layer "${this.name}" asks for weight ${name} of shape [${shape.join(', ')}], which takes the topology to ${budget.used} weights while the weights manifest declares ${budget.declared}; model.json and the shards must come from the same tf.LayersModel.save()`,
        );
      }
    }
    return addWeight.call(this, name, shape, ...rest);
  };
}

/**
 * Runs `load` (a tfjs model construction) refusing any layer weight beyond
 * `declaredElements` in total, before it is allocated.
 *
 * @example
 * const model = await withWeightBudget(countParams(specs), () => tf.loadLayersModel(handler));
 */
export function withWeightBudget<T>(declaredElements: number, load: () => Promise<T>): Promise<T> {
  install();
  return budgets.run({ declared: declaredElements, used: 0 }, load);
}
