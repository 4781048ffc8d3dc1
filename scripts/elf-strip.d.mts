export declare function stripElf(elf: Buffer): { output: Buffer; removed: string[] };
