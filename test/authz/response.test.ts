import { describe, expect, it } from 'vitest';
import { encodeDecision, metadataOf, ResponseCache } from '../../src/authz/response.js';
import type { Decision } from '../../src/decision/types.js';
import { byRule } from '../support/policies.js';
import { decodeCheckResponse } from './wire.js';

const allow = byRule('Allow', 'allow-web', 0);
const shadow = byRule('AllowWithShadowDeny', 'try-deny', 1, ['base', 'try-deny']);
const deny = byRule('Deny', 'deny-web', 2);
const noPolicy: Decision = { action: 'Deny', via: 'no-policy', decidedBy: null, policies: [] };
const mtlsOff: Decision = { action: 'Allow', via: 'mtls-disabled', decidedBy: null, policies: [] };

describe('metadataOf', () => {
  it('names the enforced result and the deciding policy', () => {
    expect(metadataOf(allow)).toEqual([
      ['enforced_engine_result', 'allowed'],
      ['enforced_effective_policy_id', 'allow-web'],
    ]);
    expect(metadataOf(deny)).toEqual([
      ['enforced_engine_result', 'denied'],
      ['enforced_effective_policy_id', 'deny-web'],
    ]);
  });

  it('adds the shadow result for AllowWithShadowDeny', () => {
    expect(metadataOf(shadow)).toEqual([
      ['enforced_engine_result', 'allowed'],
      ['enforced_effective_policy_id', 'try-deny'],
      ['shadow_engine_result', 'denied'],
      ['shadow_effective_policy_id', 'try-deny'],
    ]);
  });

  it('names no policy when none decided', () => {
    expect(metadataOf(noPolicy)).toEqual([['enforced_engine_result', 'denied']]);
    expect(metadataOf(mtlsOff)).toEqual([['enforced_engine_result', 'allowed']]);
  });
});

describe('encodeDecision', () => {
  it('denies with status 7 and the 403 body, for HTTP and network alike', () => {
    for (const http of [true, false]) {
      expect(decodeCheckResponse(encodeDecision(deny, http))).toEqual({
        code: 7,
        denied: { httpStatus: 403, body: 'RBAC: access denied', headers: [] },
        metadata: { enforced_engine_result: 'denied', enforced_effective_policy_id: 'deny-web' },
        httpResponse: 'deniedResponse',
      });
    }
  });

  it('allows with status 0, an ok_response for HTTP only', () => {
    expect(decodeCheckResponse(encodeDecision(allow, true))).toMatchObject({
      code: 0,
      httpResponse: 'okResponse',
    });
    const network = decodeCheckResponse(encodeDecision(allow, false));
    expect(network).toMatchObject({ code: 0, httpResponse: undefined });
    expect(network.denied).toBeUndefined();
  });

  it('lets AllowWithShadowDeny through', () => {
    expect(decodeCheckResponse(encodeDecision(shadow, true))).toEqual({
      code: 0,
      ok: { headers: [] },
      metadata: {
        enforced_engine_result: 'allowed',
        enforced_effective_policy_id: 'try-deny',
        shadow_engine_result: 'denied',
        shadow_effective_policy_id: 'try-deny',
      },
      httpResponse: 'okResponse',
    });
  });
});

describe('ResponseCache', () => {
  it('reuses the bytes of equal answers and keeps different ones apart', () => {
    const cache = new ResponseCache();
    const first = cache.answer(deny, true);
    expect(
      cache.answer({ ...deny, via: 'rule', decidedBy: { policy: 'deny-web', fromIndex: 7 } }, true),
    ).toBe(first);
    expect(cache.answer(deny, false)).not.toBe(first);
    expect(decodeCheckResponse(cache.answer(allow, true)).metadata.enforced_effective_policy_id).toBe(
      'allow-web',
    );
    expect(decodeCheckResponse(cache.answer(noPolicy, true)).metadata).toEqual({
      enforced_engine_result: 'denied',
    });
  });
});
