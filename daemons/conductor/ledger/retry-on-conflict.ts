import { setTimeout as sleep } from "node:timers/promises";

// Two conductors may share one database, and one conductor runs several
// transactions at once on PostgreSQL and MySQL: numbering "max + 1" can then
// collide. The loser's transaction fails on the unique key (or, on MySQL and
// PostgreSQL, as a deadlock or serialization victim) and simply runs again.

interface DriverError {
  /** pg: SQLSTATE; mysql2: ER_* name. */
  code?: unknown;
  /** mysql2. */
  errno?: unknown;
  /** node:sqlite: the extended result code. */
  errcode?: unknown;
  cause?: unknown;
}

function driverError(error: unknown): DriverError {
  return typeof error === "object" && error !== null ? (error as DriverError) : {};
}

/** A unique or primary key was violated: pg 23505, MySQL 1062, SQLite CONSTRAINT_UNIQUE/PRIMARYKEY. */
export function isUniqueViolation(error: unknown): boolean {
  const { code, errno, errcode } = driverError(error);
  return code === "23505" || errno === 1062 || errcode === 2067 || errcode === 1555;
}

/** Worth running the whole transaction again. */
export function isConflict(error: unknown): boolean {
  if (isUniqueViolation(error)) return true;
  const { code, errno, cause } = driverError(error);
  // 40001 serialization failure, 40P01 deadlock; MySQL 1213 deadlock.
  if (code === "40001" || code === "40P01" || errno === 1213) return true;
  return cause !== undefined && cause !== error && isConflict(cause);
}

/** Runs work, again after a short random pause when it lost a race, up to attempts times. */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 20): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isConflict(error)) throw error;
      // Jitter so that the losers of one race do not collide again in lockstep.
      await sleep(Math.random() * Math.min(100, 5 * attempt));
    }
  }
}
