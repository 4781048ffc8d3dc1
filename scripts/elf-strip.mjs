// `strip --strip-all` for the 64-bit little-endian ELF executables this project ships (Node.js for
// x86_64 and arm64), in plain JavaScript: the build must not depend on a stripper for a foreign
// architecture being installed (binutils' `strip` handles only the host's; `llvm-strip` is an apt
// package that `npm test` may not ask for).
//
// What it removes: every section the loader never maps (symbol tables, debug info, comments, build
// notes), i.e. every section without SHF_ALLOC except the section-name table. What the loader maps
// is copied byte for byte: the file is cut after the last byte of any segment, the section-name
// table and a new section header table follow. Section indices are renumbered and every link to a
// kept section follows; a kept section that links to a removed one is refused.

const SHF_ALLOC = 0x2n;
const SHF_INFO_LINK = 0x40n;
const SHT_NOBITS = 8;
const SHT_RELA = 4;
const SHT_REL = 9;
const SHDR_SIZE = 64;

/** @param {Buffer} elf  @returns {{ output: Buffer, removed: string[] }} */
export function stripElf(elf) {
  if (elf.readUInt32BE(0) !== 0x7f454c46) throw new Error("not an ELF file");
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error("only 64-bit little-endian ELF files are handled");
  const phoff = Number(elf.readBigUInt64LE(32));
  const shoff = Number(elf.readBigUInt64LE(40));
  const phentsize = elf.readUInt16LE(54);
  const phnum = elf.readUInt16LE(56);
  const shentsize = elf.readUInt16LE(58);
  const shnum = elf.readUInt16LE(60);
  const shstrndx = elf.readUInt16LE(62);
  if (shentsize !== SHDR_SIZE || shnum === 0 || shstrndx >= shnum) throw new Error("unexpected section header table");

  let loadEnd = phoff + phentsize * phnum;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    loadEnd = Math.max(loadEnd, Number(elf.readBigUInt64LE(at + 8) + elf.readBigUInt64LE(at + 32)));
  }

  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * SHDR_SIZE;
    return {
      index: i,
      header: Buffer.from(elf.subarray(at, at + SHDR_SIZE)),
      nameOffset: elf.readUInt32LE(at),
      type: elf.readUInt32LE(at + 4),
      flags: elf.readBigUInt64LE(at + 8),
      offset: Number(elf.readBigUInt64LE(at + 24)),
      size: Number(elf.readBigUInt64LE(at + 32)),
      link: elf.readUInt32LE(at + 40),
      info: elf.readUInt32LE(at + 44),
    };
  });
  const names = sections[shstrndx];
  const nameOf = (s) => {
    const start = names.offset + s.nameOffset;
    return elf.toString("latin1", start, elf.indexOf(0, start));
  };
  const kept = sections.filter((s) => s.index === 0 || s.index === shstrndx || (s.flags & SHF_ALLOC) !== 0n);
  const removed = sections.filter((s) => !kept.includes(s)).map(nameOf);
  if (removed.length === 0) return { output: elf, removed };

  const newIndex = new Map(kept.map((s, i) => [s.index, i]));
  const relink = (s, target, what) => {
    if (target === 0) return 0;
    const i = newIndex.get(target);
    if (i === undefined) throw new Error(`section ${nameOf(s)} ${what} links to the removed section ${nameOf(sections[target])}`);
    return i;
  };
  for (const s of kept) {
    if (s.index === 0) continue;
    if (s.type !== SHT_NOBITS && (s.flags & SHF_ALLOC) !== 0n && s.offset + s.size > loadEnd) {
      throw new Error(`section ${nameOf(s)} lies outside the loaded segments`);
    }
    s.header.writeUInt32LE(relink(s, s.link, "sh_link"), 40);
    if ((s.flags & SHF_INFO_LINK) !== 0n || s.type === SHT_REL || s.type === SHT_RELA) s.header.writeUInt32LE(relink(s, s.info, "sh_info"), 44);
  }

  // The section-name table goes right after the loaded bytes (it keeps the names of removed
  // sections too: a few hundred bytes, and no offset has to change).
  const namesAt = Math.max(loadEnd, 0);
  const namesBytes = elf.subarray(names.offset, names.offset + names.size);
  names.header.writeBigUInt64LE(BigInt(namesAt), 24);
  const headersAt = align(namesAt + namesBytes.length, 8);
  const output = Buffer.alloc(headersAt + kept.length * SHDR_SIZE);
  elf.copy(output, 0, 0, loadEnd);
  namesBytes.copy(output, namesAt);
  kept.forEach((s, i) => s.header.copy(output, headersAt + i * SHDR_SIZE));
  output.writeBigUInt64LE(BigInt(headersAt), 40);
  output.writeUInt16LE(kept.length, 60);
  output.writeUInt16LE(newIndex.get(shstrndx), 62);
  return { output, removed };
}

function align(n, to) {
  return Math.ceil(n / to) * to;
}
