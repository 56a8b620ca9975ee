import { type Frame, FrameError } from "./stomp-frame.ts";

// The two destination kinds the broker serves, as RabbitMQ names them.

export function destinationOf(frame: Frame): { destination: string; kind: "topic" | "queue"; name: string } {
  const destination = frame.headers.destination;
  if (!destination) throw new FrameError(`${frame.command} needs a destination header`);
  return { destination, ...parseDestination(destination) };
}

export function parseDestination(destination: string): { kind: "topic" | "queue"; name: string } {
  const match = /^\/(topic|queue)\/(.+)$/.exec(destination);
  if (!match) throw new FrameError(`destination "${destination.slice(0, 100)}" is not /topic/NAME or /queue/NAME`);
  return { kind: match[1] as "topic" | "queue", name: match[2] as string };
}
