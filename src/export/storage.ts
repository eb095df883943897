import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Where export files live. Keys are `<jobId>/<file>`; the worker appends to one file at a time and syncs it
 * before recording its size, so a recorded size is always on storage. Every server instance that runs jobs or
 * serves files must see the same storage (for the local-disk one: a shared volume).
 */
export interface ExportStorage {
  /**
   * Opens key for appending, holding exactly `size` bytes: the first `size` bytes of `from` (a file of an
   * earlier attempt) or of key itself; 0 starts an empty file.
   */
  openPart(key: string, opts: { size: number; from?: string }): Promise<PartWriter>;
  /** The file for download, or undefined when it is not there. */
  read(key: string): Promise<{ size: number; stream: () => Readable } | undefined>;
  /** Best effort: a file a stalled worker may still hold is simply left to the job's removal. */
  remove(key: string): Promise<void>;
  removeJob(jobId: string): Promise<void>;
}

export interface PartWriter {
  write(chunk: Buffer): Promise<void>;
  /** Makes everything written so far durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Export files on the local disk, under DATA_DIR/exports/<jobId>/. */
export class LocalDiskExportStorage implements ExportStorage {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async openPart(key: string, opts: { size: number; from?: string }): Promise<PartWriter> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    if (opts.size === 0) {
      await rm(path, { force: true });
    } else {
      const source = opts.from && opts.from !== key ? this.path(opts.from) : path;
      const found = await stat(source).catch(() => undefined);
      if (!found || found.size < opts.size) {
        throw new Error(`export file ${opts.from ?? key} holds ${found?.size ?? 0} bytes, fewer than the ${opts.size} recorded`);
      }
      if (source !== path) await copyFile(source, path);
      // Bytes written after the last recorded size (by a worker that then stopped) are dropped here.
      await truncate(path, opts.size);
    }
    const handle: FileHandle = await open(path, 'a');
    return {
      write: async (chunk) => {
        let offset = 0;
        while (offset < chunk.length) offset += (await handle.write(chunk, offset)).bytesWritten;
      },
      sync: () => handle.datasync(),
      close: () => handle.close(),
    };
  }

  async read(key: string): Promise<{ size: number; stream: () => Readable } | undefined> {
    const path = this.path(key);
    const found = await stat(path).catch(() => undefined);
    if (!found?.isFile()) return undefined;
    return { size: found.size, stream: () => createReadStream(path) };
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async removeJob(jobId: string): Promise<void> {
    await rm(this.path(jobId), { recursive: true, force: true });
  }

  /** Keys are made by the worker, never by a client; the check keeps a wrong key inside the root anyway. */
  private path(key: string): string {
    const path = resolve(join(this.root, key));
    if (!path.startsWith(this.root + sep)) throw new Error(`export storage key outside the storage root: ${key}`);
    return path;
  }
}
