/**
 * What preprocess-parity.test.ts bundles for the page (global `Preprocess`):
 * shared/preprocess exactly as the SDK ships it, and the cases both sides run.
 */
export { compilePreprocess } from '../../shared/preprocess/index.ts';
export { outcomeOf, PREPROCESS_CASES, rawInputOf } from './preprocess-cases.fixture.ts';
