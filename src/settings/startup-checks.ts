/**
 * Flags that name files, checked before anything starts: a mistake is one line that names the
 * flag and the file (exit 2), not a library's error from deep inside a listener.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Settings } from './settings.js';

export type StartupFiles = Pick<Settings, 'grpcAddress' | 'grpcTlsCert' | 'grpcTlsKey' | 'grpcTlsClientCa'>;

const SWAPPED = '(are --grpc-tls-cert and --grpc-tls-key swapped?)';

/** The first problem found, as the line to print; undefined when every file is usable. */
export function checkStartupFiles(settings: StartupFiles): string | undefined {
  return socketDirectoryProblem(settings) ?? tlsProblem(settings);
}

function socketDirectoryProblem({ grpcAddress }: StartupFiles): string | undefined {
  if (grpcAddress.kind !== 'unix') return undefined;
  const dir = dirname(grpcAddress.path);
  const flag = `--grpc-address unix://${grpcAddress.path}`;
  try {
    if (!statSync(dir).isDirectory()) return `${flag}: ${dir} is not a directory`;
  } catch (error) {
    return `${flag}: directory ${dir} cannot be used (${(error as NodeJS.ErrnoException).code})`;
  }
  return undefined;
}

function tlsProblem(settings: StartupFiles): string | undefined {
  const { grpcTlsCert: certFile, grpcTlsKey: keyFile, grpcTlsClientCa: caFile } = settings;
  if (certFile === undefined || keyFile === undefined) return undefined;
  const cert = readPem('--grpc-tls-cert', certFile);
  if (typeof cert === 'object') return cert.problem;
  const key = readPem('--grpc-tls-key', keyFile);
  if (typeof key === 'object') return key.problem;

  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    return isPrivateKey(cert)
      ? `--grpc-tls-cert ${certFile}: holds a private key, not a certificate ${SWAPPED}`
      : `--grpc-tls-cert ${certFile}: not a PEM certificate`;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return key.includes('-----BEGIN CERTIFICATE-----')
      ? `--grpc-tls-key ${keyFile}: holds a certificate, not a private key ${SWAPPED}`
      : `--grpc-tls-key ${keyFile}: not a PEM private key`;
  }
  if (!certificate.checkPrivateKey(privateKey))
    return `--grpc-tls-key ${keyFile}: does not belong to the certificate in --grpc-tls-cert ${certFile}`;

  if (caFile === undefined) return undefined;
  const ca = readPem('--grpc-tls-client-ca', caFile);
  if (typeof ca === 'object') return ca.problem;
  try {
    new X509Certificate(ca);
  } catch {
    return `--grpc-tls-client-ca ${caFile}: not a PEM certificate`;
  }
  return undefined;
}

function readPem(flag: string, file: string): string | { problem: string } {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    return { problem: `${flag} ${file}: cannot be read (${(error as NodeJS.ErrnoException).code})` };
  }
}

function isPrivateKey(pem: string): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem);
}
