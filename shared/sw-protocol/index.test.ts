import { describe, expect, it } from 'vitest';
import { isSwReply, isSwRequest, isSwTrainConfigRequest, swRequest, swTrainConfigRequest } from './index.ts';

describe('service-worker envelopes', () => {
  it('accepts well-formed requests and refuses malformed ones', () => {
    const req = swRequest('predict', { input: [0, 0.5, 1] });
    expect(isSwRequest(req)).toBe(true);
    expect(isSwRequest(swRequest('status', {}))).toBe(true);
    expect(isSwRequest({ ...req, payload: { input: [Number.NaN] } })).toBe(false);
    expect(isSwRequest({ ...req, payload: { input: [] } })).toBe(false);
    expect(isSwRequest({ ...req, meta: { sentAt: 1 } })).toBe(false);
    expect(isSwRequest({ ...req, type: 'train' })).toBe(false);
    expect(isSwRequest('predict')).toBe(false);
  });

  it('gives each request its own id', () => {
    const ids = new Set(Array.from({ length: 50 }, () => swRequest('status', {}).meta.id));
    expect(ids.size).toBe(50);
  });

  it('only trusts replies that say they came from the service worker', () => {
    const meta = { id: 'a', answeredBy: 'service-worker', shellVersion: 'x' };
    expect(isSwReply({ type: 'predict-result', meta, payload: { label: 3, probabilities: [1], confidence: 1 } })).toBe(
      true,
    );
    expect(isSwReply({ type: 'error', meta, payload: { code: 'no_model', message: 'm' } })).toBe(true);
    expect(
      isSwReply({
        type: 'predict-result',
        meta: { ...meta, answeredBy: 'page' },
        payload: { label: 3, probabilities: [1] },
      }),
    ).toBe(false);
    expect(isSwReply({ type: 'error', meta, payload: { code: 'no_model' } })).toBe(false);
  });

  it('accepts train-config requests with a short list of task ids only', () => {
    const req = swTrainConfigRequest(['task_1', 'task_2']);
    expect(isSwTrainConfigRequest(req)).toBe(true);
    expect(isSwTrainConfigRequest(swTrainConfigRequest([]))).toBe(true);
    expect(isSwTrainConfigRequest({ ...req, payload: { tasks: [''] } })).toBe(false);
    expect(isSwTrainConfigRequest({ ...req, payload: { tasks: [7] } })).toBe(false);
    expect(isSwTrainConfigRequest({ ...req, payload: { tasks: Array.from({ length: 33 }, (_, i) => `t${i}`) } })).toBe(
      false,
    );
    expect(isSwTrainConfigRequest({ ...req, meta: { sentAt: 1 } })).toBe(false);
    expect(isSwRequest(req)).toBe(false); // predict/status handling never sees it
  });
});
