// `await using` and the handles' `[Symbol.asyncDispose]` methods need Symbol.asyncDispose at run
// time: TypeScript lowers `await using` (the project targets ES2022) to helpers that look the
// symbol up and throw when it is missing, and a class keyed by it must find it when defined.
// Node 20 has had it since 20.4, other runtimes and fresh `vm` contexts may not, so the client
// defines it where it is absent before anything else in src/client/ is evaluated.

/** Defines `asyncDispose` on a Symbol constructor that lacks it, as the TypeScript handbook's
 *  polyfill does; the registered symbol keeps every copy of this library on one key. */
export function ensureAsyncDispose(symbol: SymbolConstructor = Symbol): symbol {
  if (typeof symbol.asyncDispose !== 'symbol') {
    Object.defineProperty(symbol, 'asyncDispose', { value: symbol.for('Symbol.asyncDispose'), configurable: true });
  }
  return symbol.asyncDispose;
}

ensureAsyncDispose();
