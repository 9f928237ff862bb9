/*
 * The fuzz properties, by name. Each is a fast-check property over one parser
 * or state machine that takes outside input; test/fuzz/fuzz.test.ts runs every
 * one for a bounded number of cases in `npm test`, test/fuzz/run.ts (`npm run
 * fuzz`) as many as asked. Names are "area/what" so a filter can pick a group;
 * test/fuzz/all.ts lists them all.
 */

import type * as fc from 'fast-check';
import { ValeError } from '../../src/core/errors.js';

export interface FuzzProp {
  /** "area/what", e.g. "name/grammar". */
  readonly name: string;
  /** Cases per `npm test` run (keeps the whole set within seconds). */
  readonly runs: number;
  /** A fresh property (properties may hold per-run state); an async one is awaited. */
  readonly property: () => fc.IRawProperty<unknown, boolean>;
}

/** A property of any arity as the registry holds it. */
export function prop(p: unknown): fc.IRawProperty<unknown, boolean> {
  return p as fc.IRawProperty<unknown, boolean>;
}

/** Asserts `e` is a ValeError with `code` (else rethrows something that says what it was). */
export function assertValeError(e: unknown, code: string, what: string): asserts e is ValeError {
  if (!(e instanceof ValeError) || e.code !== code) {
    throw new Error(
      `${what}: threw ${e instanceof ValeError ? e.code : String((e as Error)?.stack ?? e)}, expected ValeError ${code}`,
    );
  }
}
