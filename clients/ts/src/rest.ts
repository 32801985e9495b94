import { ConfabError } from "./errors.js";
import type {
  AuthResponse,
  ChangePasswordRequest,
  CreatedMedia,
  CreateGroupRequest,
  CreateInviteRequest,
  CreateMediaRequest,
  HistoryQuery,
  Invite,
  InvitePreview,
  Media,
  MemberPage,
  MemberPageQuery,
  Message,
  MessagePage,
  PushSubscriptionCreated,
  PushSubscriptionRequest,
  RegisterRequest,
  Role,
  Room,
  SearchQuery,
  SendMessageRequest,
  SessionInfo,
  UpdateMeRequest,
  UpdateRoomRequest,
  User,
} from "./types.js";

export type Fetch = typeof fetch;

/** An upload's progress: bytes sent so far of the whole. */
export type Progress = (sent: number, total: number) => void;

type Query = Record<string, string | number | null | undefined>;

/**
 * Every REST endpoint of the API, typed. Failures throw {@link ConfabError} with the
 * server's code; a network failure has the code `network`.
 */
export class Rest {
  readonly baseUrl: string;
  token: string | null;
  private readonly fetchImpl: Fetch;

  constructor(baseUrl: string, token: string | null = null, fetchImpl?: Fetch) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
    this.fetchImpl = fetchImpl ?? globalThis.fetch.bind(globalThis);
  }

  // ---- accounts --------------------------------------------------------------------------

  register(request: RegisterRequest): Promise<AuthResponse> {
    return this.json("POST", "/auth/register", request);
  }

  login(username: string, password: string): Promise<AuthResponse> {
    return this.json("POST", "/auth/login", { username, password });
  }

  logout(): Promise<void> {
    return this.json("POST", "/auth/logout");
  }

  me(): Promise<User> {
    return this.json("GET", "/me");
  }

  updateMe(request: UpdateMeRequest): Promise<User> {
    return this.json("PATCH", "/me", request);
  }

  changePassword(request: ChangePasswordRequest): Promise<void> {
    return this.json("POST", "/me/password", request);
  }

  sessions(): Promise<SessionInfo[]> {
    return this.json("GET", "/me/sessions");
  }

  endSession(id: string): Promise<void> {
    return this.json("DELETE", `/me/sessions/${enc(id)}`);
  }

  deleteAccount(password: string): Promise<void> {
    return this.json("DELETE", "/me", { password });
  }

  searchUsers(q: string): Promise<User[]> {
    return this.json("GET", "/users" + query({ q }));
  }

  blockUser(userId: string): Promise<void> {
    return this.json("POST", `/users/${enc(userId)}/block`);
  }

  unblockUser(userId: string): Promise<void> {
    return this.json("DELETE", `/users/${enc(userId)}/block`);
  }

  blockedUsers(): Promise<User[]> {
    return this.json("GET", "/me/blocks");
  }

  // ---- rooms -------------------------------------------------------------------------------

  rooms(): Promise<Room[]> {
    return this.json("GET", "/rooms");
  }

  createGroup(request: CreateGroupRequest): Promise<Room> {
    return this.json("POST", "/rooms", request);
  }

  /** The one direct room with `userId`, made on first use. */
  openDirect(userId: string): Promise<Room> {
    return this.json("POST", "/rooms/direct", { user_id: userId });
  }

  room(roomId: string): Promise<Room> {
    return this.json("GET", `/rooms/${enc(roomId)}`);
  }

  updateRoom(roomId: string, request: UpdateRoomRequest): Promise<Room> {
    return this.json("PATCH", `/rooms/${enc(roomId)}`, request);
  }

  members(roomId: string, page: MemberPageQuery = {}): Promise<MemberPage> {
    return this.json("GET", `/rooms/${enc(roomId)}/members` + query(page));
  }

  addMember(roomId: string, userId: string): Promise<Room> {
    return this.json("POST", `/rooms/${enc(roomId)}/members`, { user_id: userId });
  }

  removeMember(roomId: string, userId: string): Promise<void> {
    return this.json("DELETE", `/rooms/${enc(roomId)}/members/${enc(userId)}`);
  }

  setRole(roomId: string, userId: string, role: Role): Promise<Room> {
    return this.json("PATCH", `/rooms/${enc(roomId)}/members/${enc(userId)}`, { role });
  }

  leave(roomId: string): Promise<void> {
    return this.json("DELETE", `/rooms/${enc(roomId)}/members/me`);
  }

  setMuted(roomId: string, muted: boolean): Promise<Room> {
    return this.json("PATCH", `/rooms/${enc(roomId)}/members/me`, { muted });
  }

  // ---- messages ----------------------------------------------------------------------------

  history(roomId: string, page: HistoryQuery = {}): Promise<MessagePage> {
    return this.json("GET", `/rooms/${enc(roomId)}/messages` + query(page));
  }

  /** A send over REST (the client's outbox sends over the socket). */
  send(roomId: string, request: SendMessageRequest): Promise<Message> {
    return this.json("POST", `/rooms/${enc(roomId)}/messages`, request);
  }

  search(search: SearchQuery): Promise<MessagePage> {
    return this.json("GET", "/search" + query(search));
  }

  // ---- invites -----------------------------------------------------------------------------

  createInvite(roomId: string, request: CreateInviteRequest = {}): Promise<Invite> {
    return this.json("POST", `/rooms/${enc(roomId)}/invites`, request);
  }

  previewInvite(code: string): Promise<InvitePreview> {
    return this.json("GET", `/invites/${enc(code)}`);
  }

  acceptInvite(code: string): Promise<Room> {
    return this.json("POST", `/invites/${enc(code)}/accept`);
  }

  revokeInvite(code: string): Promise<void> {
    return this.json("DELETE", `/invites/${enc(code)}`);
  }

  // ---- media -------------------------------------------------------------------------------

  createMedia(request: CreateMediaRequest): Promise<CreatedMedia> {
    return this.json("POST", "/media", request);
  }

  completeMedia(mediaId: string): Promise<Media> {
    return this.json("POST", `/media/${enc(mediaId)}/complete`);
  }

  deleteMedia(mediaId: string): Promise<void> {
    return this.json("DELETE", `/media/${enc(mediaId)}`);
  }

  /**
   * Uploads a photo or voice message: declares it, PUTs the bytes where the server says
   * (S3 by presigned URL, or the server itself), reporting progress, and completes it.
   * The media is then ready to send (`media_id` of an `image` or `voice` message).
   */
  async uploadMedia(
    bytes: Uint8Array | Blob,
    request: Omit<CreateMediaRequest, "bytes">,
    onProgress?: Progress,
  ): Promise<Media> {
    const size = bytes instanceof Uint8Array ? bytes.byteLength : bytes.size;
    const created = await this.createMedia({ ...request, bytes: size });
    const upload = created.upload;
    try {
      await put(upload.url, upload.headers, bytes, onProgress, this.fetchImpl);
      return await this.completeMedia(created.media.id);
    } catch (error) {
      await this.deleteMedia(created.media.id).catch(() => undefined);
      throw error;
    }
  }

  /** A media object's bytes (following the redirect to a signed URL when there is one). */
  async mediaBytes(mediaId: string, thumbnail = false): Promise<Uint8Array> {
    const path = `/media/${enc(mediaId)}${thumbnail ? "/thumbnail" : ""}`;
    const response = await this.request("GET", path);
    return new Uint8Array(await response.arrayBuffer());
  }

  // ---- push --------------------------------------------------------------------------------

  /** The application server key for `pushManager.subscribe` (base64url). */
  async vapidPublicKey(): Promise<string> {
    const answer: { key: string } = await this.json("GET", "/push/vapid-public-key");
    return answer.key;
  }

  /** Registers a device for push: a Web Push subscription or an Expo push token. */
  registerPush(subscription: PushSubscriptionRequest): Promise<PushSubscriptionCreated> {
    return this.json("POST", "/push/subscriptions", subscription);
  }

  unregisterPush(id: string): Promise<void> {
    return this.json("DELETE", `/push/subscriptions/${enc(id)}`);
  }

  // ---- plumbing ----------------------------------------------------------------------------

  /** A JSON call under `/api/v1`; `undefined` for `204 No Content`. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    if (response.status === 204) {
      return undefined as T;
    }
    return (await response.json()) as T;
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) {
      headers.authorization = `Bearer ${this.token}`;
    }
    if (body !== undefined) {
      headers["content-type"] = "application/json";
    }
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ConfabError("network", String(error));
    }
    if (!response.ok) {
      const retryAfter = Number(response.headers.get("retry-after")) || null;
      const answer = await response.json().catch(() => null);
      throw ConfabError.from(answer, response.status, retryAfter);
    }
    return response;
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function query(params: Query): string {
  const pairs = Object.entries(params).filter(
    (pair): pair is [string, string | number] => pair[1] !== undefined && pair[1] !== null,
  );
  if (pairs.length === 0) {
    return "";
  }
  return "?" + pairs.map(([k, v]) => `${enc(k)}=${enc(String(v))}`).join("&");
}

/**
 * PUTs the bytes with progress: `XMLHttpRequest` where there is one (browsers, React
 * Native), else `fetch` with a streamed body counted as the network takes it (Node).
 */
async function put(
  url: string,
  headers: Record<string, string>,
  bytes: Uint8Array | Blob,
  onProgress: Progress | undefined,
  fetchImpl: Fetch,
): Promise<void> {
  const total = bytes instanceof Uint8Array ? bytes.byteLength : bytes.size;
  if (typeof XMLHttpRequest !== "undefined") {
    await new Promise<void>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      for (const [name, value] of Object.entries(headers)) {
        xhr.setRequestHeader(name, value);
      }
      xhr.upload.onprogress = (event) => onProgress?.(event.loaded, total);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress?.(total, total);
          resolve();
        } else {
          let body: unknown = null;
          try {
            body = JSON.parse(xhr.responseText);
          } catch {
            // not JSON: S3's XML error
          }
          reject(ConfabError.from(body, xhr.status));
        }
      };
      xhr.onerror = () => reject(new ConfabError("network", "the upload failed"));
      xhr.send(bytes as XMLHttpRequestBodyInit);
    });
    return;
  }
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(await bytes.arrayBuffer());
  const chunk = 64 * 1024;
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.byteLength) {
        controller.close();
        return;
      }
      const next = data.subarray(offset, Math.min(offset + chunk, data.byteLength));
      offset += next.byteLength;
      controller.enqueue(next);
      onProgress?.(offset, total);
    },
  });
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: "PUT",
      headers: { ...headers, "content-length": String(total) },
      body,
      duplex: "half",
    } as RequestInit);
  } catch (error) {
    throw new ConfabError("network", String(error));
  }
  if (!response.ok) {
    const answer = await response.json().catch(() => null);
    throw ConfabError.from(answer, response.status);
  }
}
