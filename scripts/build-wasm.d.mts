// Types of scripts/build-wasm.mjs, for the unit test that checks the generated module is up to date.
export declare const WAT_PATH: string;
export declare const OUT_PATH: string;
export declare function compileQuantMatmul(watText: string): Promise<{ shared: Uint8Array<ArrayBuffer>; unshared: Uint8Array<ArrayBuffer> }>;
export declare function renderQuantMatmulTs(bins: { shared: Uint8Array; unshared: Uint8Array }): string;
export declare function buildQuantMatmulTs(): Promise<string>;
