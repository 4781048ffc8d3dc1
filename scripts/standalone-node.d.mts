export declare const NODE_VERSION: string;
export declare const ARCHITECTURES: readonly string[];
export interface StandaloneNode {
  arch: string;
  version: string;
  node: string;
  license: string;
  deflated: string;
  crc32: number;
  size: number;
  compressedSize: number;
  unstrippedSize: number;
  cached: boolean;
  ms: number;
}
export declare function standaloneNode(root: string, arch: string): Promise<StandaloneNode>;
