import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  envoyUrlEncode,
  makeCa,
  makeChain,
  makeClientCert,
  makeServerCert,
  makeWorkloadCert,
} from './certs.js';

describe('certificate factory', () => {
  it('issues workload certificates whose URI SANs node reads back', () => {
    const ca = makeCa();
    const cert = makeWorkloadCert({
      uris: ['spiffe://default/web', 'kuma://env/prod'],
      dnsNames: ['web.local'],
    });
    const parsed = new X509Certificate(cert.pem);
    expect(parsed.subjectAltName).toBe('URI:spiffe://default/web, URI:kuma://env/prod, DNS:web.local');
    expect(parsed.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(Buffer.from(cert.der).equals(parsed.raw)).toBe(true);
  });

  it('URL-encodes exactly like Envoy', () => {
    const cert = makeWorkloadCert({ uris: ['spiffe://default/web'] });
    expect(cert.urlEncoded.startsWith('-----BEGIN%20CERTIFICATE-----%0AMII')).toBe(true);
    expect(cert.urlEncoded.endsWith('%0A-----END%20CERTIFICATE-----%0A')).toBe(true);
    expect(cert.urlEncoded).not.toMatch(/[\n +/=]/);
    expect(decodeURIComponent(cert.urlEncoded)).toBe(cert.pem);
    expect(envoyUrlEncode('a+b/c=d e\n')).toBe('a%2Bb%2Fc%3Dd%20e%0A');
    expect(cert.pem.split('\n').every((line) => line.length <= 64)).toBe(true);
  });

  it('makes a verifiable leaf + intermediate chain', () => {
    const chain = makeChain({ uris: ['spiffe://default/web'] });
    expect(chain.pem).toBe(chain.leafPem + chain.intermediatePem);
    const leaf = new X509Certificate(chain.leafPem);
    const intermediate = new X509Certificate(chain.intermediatePem);
    expect(leaf.checkIssued(intermediate)).toBe(true);
    expect(intermediate.checkIssued(new X509Certificate(chain.root.certPem))).toBe(true);
  });

  it('makes server and client certificates that complete a mutual TLS handshake', async () => {
    const ca = makeCa();
    const server = makeServerCert(ca, { dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const client = makeClientCert(ca);
    const listener = createServer(
      {
        cert: server.certPem,
        key: server.keyPem,
        ca: ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end('ok'),
    );
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const { port } = listener.address() as AddressInfo;
    try {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca: ca.certPem,
        cert: client.certPem,
        key: client.keyPem,
      });
      await once(socket, 'secureConnect');
      expect(socket.authorized).toBe(true);
      socket.destroy();
    } finally {
      listener.close();
    }
  });
});
