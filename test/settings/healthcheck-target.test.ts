/** The image's HEALTHCHECK probes the HTTP address the service was started with. */
import { describe, expect, it } from 'vitest';
import { healthcheckTarget } from '../../src/settings/healthcheck-target.js';

const SERVE = ['node', 'dist/cli.js', 'serve', '--policies', '/etc/mtp-authz/policies'];

describe('healthcheckTarget', () => {
  it('the default port on loopback', () => {
    expect(healthcheckTarget(SERVE, {})).toEqual({ host: '127.0.0.1', port: 9192 });
  });

  it('MTP_AUTHZ_HTTP_ADDRESS, then --http-address over it (flags win, the last one counts)', () => {
    expect(healthcheckTarget(SERVE, { MTP_AUTHZ_HTTP_ADDRESS: '0.0.0.0:8080' })).toEqual({
      host: '127.0.0.1',
      port: 8080,
    });
    const flags = [...SERVE, '--http-address', '[::]:7000', '--http-address=10.1.2.3:7001'];
    expect(healthcheckTarget(flags, { MTP_AUTHZ_HTTP_ADDRESS: '0.0.0.0:8080' })).toEqual({
      host: '10.1.2.3',
      port: 7001,
    });
    expect(healthcheckTarget([...SERVE, '--http-address', '[::]:7000'], {})).toEqual({
      host: '::1',
      port: 7000,
    });
  });

  it('an init before the service (docker run --init) changes nothing', () => {
    expect(
      healthcheckTarget(['/sbin/docker-init', '--', ...SERVE, '--http-address', '0.0.0.0:9300'], {}),
    ).toEqual({
      host: '127.0.0.1',
      port: 9300,
    });
  });

  it('an address serve would refuse gives no target', () => {
    expect(healthcheckTarget([...SERVE, '--http-address', 'nope'], {})).toBeUndefined();
  });
});
