import type { Socket } from "node:net";

/**
 * Corks a socket until the end of the current tick, so that the frames written
 * in one tick (a fan-out, a burst of ACKs, a publisher's loop) leave in one
 * writev rather than one write(2) each.
 */
export class TickCork {
  private corked = false;
  private readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Call before each write: the first call in a tick corks, the end of the tick uncorks. */
  hold(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => this.release());
  }

  /** Sends what is held now (before closing the socket). */
  release(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }
}
