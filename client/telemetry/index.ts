/**
 * Client telemetry: a bounded recorder and its outbox entry.
 */
export { createTelemetryRecorder, featuresOf, type TelemetryRecorder, type ModelLoaded } from './recorder.ts';
export { enqueueTelemetry } from './enqueue.ts';
