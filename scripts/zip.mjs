// A small, deterministic zip writer for the layer zips: entries "made by" Unix so that Lambda keeps
// their modes, a fixed timestamp (1980-01-01) so that the same input gives the same bytes, deflate.
// Unlike yazl it takes an entry that is already deflated: the standalone layers' Node.js binary (about
// 100 MB) is compressed once per Node version and cached, not on every build.
import fs from "node:fs";
import zlib from "node:zlib";

const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const UTF8_NAMES = 0x0800;
const MADE_BY_UNIX = (3 << 8) | 20;

/**
 * @typedef {{ name: string, mode: number } & ({ data: Buffer } | { deflated: { raw: Buffer, crc32: number, size: number } })} ZipEntry
 * @param {string} zipPath
 * @param {ZipEntry[]} entries  in the order they are written
 */
export function writeZip(zipPath, entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  for (const entry of entries) {
    const d = "data" in entry ? { raw: zlib.deflateRawSync(entry.data, { level: 9 }), crc32: zlib.crc32(entry.data), size: entry.data.length } : entry.deflated;
    const name = Buffer.from(entry.name, "utf8");
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    local.writeUInt32LE(d.crc32 >>> 0, 14);
    local.writeUInt32LE(d.raw.length, 18);
    local.writeUInt32LE(d.size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(MADE_BY_UNIX, 4);
    local.copy(header, 6, 4, 30); // version needed .. name length, the same fields as the local header
    header.writeUInt16LE(0, 30); // extra
    header.writeUInt16LE(0, 32); // comment
    header.writeUInt16LE(0, 34); // disk
    header.writeUInt16LE(0, 36); // internal attributes
    header.writeUInt32LE(((0o100000 | entry.mode) << 16) >>> 0, 38);
    header.writeUInt32LE(offset, 42);
    parts.push(local, name, d.raw);
    central.push(header, name);
    offset += local.length + name.length + d.raw.length;
  }
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  if (offset + centralSize > 0xffffffff || entries.length > 0xffff) throw new Error(`${zipPath}: too large for a zip without zip64`);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  const tmp = `${zipPath}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w");
  try {
    for (const b of [...parts, ...central, end]) fs.writeSync(fd, b);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, zipPath);
  return offset + centralSize + end.length;
}
