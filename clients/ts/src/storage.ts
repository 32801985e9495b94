/**
 * Where the client keeps what must survive a restart (the outbox, each room's read
 * position): a key-value store of strings. React Native's `AsyncStorage` has this shape as
 * it is; browsers use {@link WebStorage} over `localStorage`; tests and bots use
 * {@link MemoryStorage}.
 */
export interface KeyValueStorage {
  getItem(key: string): Promise<string | null> | string | null;
  setItem(key: string, value: string): Promise<void> | void;
  removeItem(key: string): Promise<void> | void;
}

/** Keeps everything in memory: gone with the process. */
export class MemoryStorage implements KeyValueStorage {
  private readonly items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }

  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** The Web Storage API (`localStorage`), as a {@link KeyValueStorage}. */
export class WebStorage implements KeyValueStorage {
  constructor(private readonly storage: Storage) {}

  getItem(key: string): string | null {
    return this.storage.getItem(key);
  }

  setItem(key: string, value: string): void {
    this.storage.setItem(key, value);
  }

  removeItem(key: string): void {
    this.storage.removeItem(key);
  }
}

/** Reads a JSON value, or `fallback` when it is missing or unreadable. */
export async function readJson<T>(storage: KeyValueStorage, key: string, fallback: T): Promise<T> {
  try {
    const text = await storage.getItem(key);
    return text === null ? fallback : (JSON.parse(text) as T);
  } catch {
    return fallback;
  }
}

export async function writeJson(storage: KeyValueStorage, key: string, value: unknown): Promise<void> {
  await storage.setItem(key, JSON.stringify(value));
}
