// Named errors of the download and cache layer. Every message says what was expected, what was found
// and what to do; only name and message cross a worker boundary (see src/errors.ts).
import { GlmError } from '../errors';

export { MissingFileError, TruncatedFileError } from '../formats/byte-source';
export { UnsupportedPackageVersionError, PackageFormatError } from '../formats/package';

/** The network failed (or the server kept answering 5xx) on every attempt, or answered an unexpected HTTP status. */
export class DownloadError extends GlmError {
  override name = 'DownloadError';
}

/** A downloaded (or stored) file's SHA-256 differs from the manifest's on every attempt. */
export class ShardHashMismatchError extends GlmError {
  override name = 'ShardHashMismatchError';
}

/** Not enough storage for the files still to download. The message states needed and available bytes. */
export class QuotaExceededError extends GlmError {
  override name = 'QuotaExceededError';
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}
