import type { BuildOptions } from "esbuild";
export declare const EXTENSION_BUILD_OPTIONS: Readonly<BuildOptions & { mainFields: string[]; metafile: true }>;
