// Confab's service worker: keeps the app shell (the server-rendered page, which is the same
// for every route, the WASM, its JS glue, the CSS, the realtime client and the icons) so the
// app starts offline. The signed-in room list comes from the app's own copy in localStorage.
//
// Network first, cache as the fallback: a deploy is picked up at once (the JS glue and the
// WASM must always come from the same build), and offline the last good copy still starts.
const CACHE = "confab-shell-v2";
const SHELL = [
  "/",
  "/pkg/confab.js",
  "/pkg/confab_bg.wasm",
  "/pkg/confab.css",
  "/realtime.js",
  "/manifest.webmanifest",
  "/favicon.svg",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  // One by one, so a file missing from one kind of build does not fail the install.
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => Promise.all(SHELL.map((path) => cache.add(path).catch(() => undefined))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  // The API and the live connection are never cached.
  if (
    request.method !== "GET" ||
    url.origin !== self.location.origin ||
    url.pathname.startsWith("/api/") ||
    url.pathname.startsWith("/socket.io/")
  ) {
    return;
  }
  const isPage = request.mode === "navigate";
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          // Every route renders the same shell, so one cached page serves them all.
          caches.open(CACHE).then((cache) => cache.put(isPage ? "/" : request, copy));
        }
        return response;
      })
      .catch(() =>
        caches
          .match(isPage ? "/" : request)
          .then((cached) => cached ?? Response.error()),
      ),
  );
});

// Push (API.md v1.1): a notification for a user with no open page, sent by the server
// through the browser's push service. The payload is {kind, room_id, message_id, title,
// text}: it is shown as it is, one notification per room (a newer one replaces it).
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (_) {
    data = {};
  }
  event.waitUntil(
    showRoomNotification(data.title || "Confab", data.text || "", data.room_id || null),
  );
});

// The page's own notifications (a message while its tab is hidden) come here too, so they
// look and act as pushed ones do.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "notify") {
    event.waitUntil(showRoomNotification(data.title || "Confab", data.body || "", data.room_id || null));
  }
});

// A click opens the room: in a window of the app already open if there is one.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const room = event.notification.data && event.notification.data.room_id;
  const path = room ? `/rooms/${encodeURIComponent(room)}` : "/";
  const url = new URL(path, self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) {
        return open.focus().then((w) => (w && w.url !== url ? w.navigate(url) : w));
      }
      return self.clients.openWindow(url);
    }),
  );
});

function showRoomNotification(title, body, room) {
  return self.registration.showNotification(title, {
    body,
    icon: "/icons/icon-192.png",
    badge: "/icons/icon-192.png",
    tag: room ? `room:${room}` : "confab",
    renotify: true,
    data: { room_id: room },
  });
}
