/**
 * A worker's copy of the shared store's texts (`--store` with `--workers`): the primary owns the
 * store and sends the texts before the worker's first load and with every reload it asks for.
 */
import type { MirrorSnapshot, StoreSource } from '../../store/mirror.js';
import { StartError } from '../open.js';
import type { ProcessPort } from '../signals.js';
import { isMessage, type ToWorker } from './messages.js';

const GREETING_TIMEOUT_MS = 10_000;

export class PushedStore implements StoreSource {
  #snapshot: MirrorSnapshot;
  #served = 0;
  /** The primary tells stale; a worker's own copy is as fresh as its last reload. */
  readonly stale = false;

  constructor(snapshot: MirrorSnapshot) {
    this.#snapshot = snapshot;
  }

  /** Asks the primary for the store's texts; resolves once they arrive. */
  static receive(port: ProcessPort): Promise<PushedStore> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        port.off('message', onMessage);
        reject(new StartError(1, 'the primary did not send the policy store texts'));
      }, GREETING_TIMEOUT_MS);
      const onMessage = (message: unknown): void => {
        if (!isMessage(message) || (message as ToWorker).mtpAuthz !== 'store') return;
        clearTimeout(timer);
        port.off('message', onMessage);
        resolve(new PushedStore((message as Extract<ToWorker, { mtpAuthz: 'store' }>).store));
      };
      port.on('message', onMessage);
      if (port.connected) port.send?.({ mtpAuthz: 'greeting' });
    });
  }

  get servedVersion(): number {
    return this.#served;
  }

  update(snapshot: MirrorSnapshot): void {
    this.#snapshot = snapshot;
  }

  snapshot(): MirrorSnapshot {
    return this.#snapshot;
  }

  served(version: number): void {
    this.#served = version;
  }
}
