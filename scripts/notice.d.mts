export interface BundledPackage {
  name: string;
  version: string;
  license: string;
  files: Array<{ file: string; text: string }>;
}
export function packageDirOf(input: string): string | undefined;
export function bundledPackages(): Promise<BundledPackage[]>;
export function renderNotice(packages: BundledPackage[]): string;
