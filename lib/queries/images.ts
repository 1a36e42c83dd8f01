// Image service on the browser side: family query, PATCH/DELETE, and the upload itself over
// XMLHttpRequest, because fetch() reports no upload progress.
import { queryOptions } from "@tanstack/react-query";
import type { ImageFamilyDto, ImageVisibility } from "../schemas/images";
import type { ImageEvictResult, ImageHostDto } from "../schemas/host-images";
import type { ImageDto, StoredImageDto } from "../schemas/api";
import { ApiRequestError, fetchJson } from "./fetch-json";
import { LIST_REFRESH_MS } from "./lists";

export const imageKeys = {
  families: ["images", "families"] as const,
  detail: (id: string) => ["images", "detail", id] as const,
  hosts: (id: string) => ["images", "hosts", id] as const,
};

export const imageFamiliesQuery = queryOptions({
  queryKey: imageKeys.families,
  queryFn: () => fetchJson<ImageFamilyDto[]>("/api/v1/image-families"),
  refetchInterval: LIST_REFRESH_MS,
});

export const imageQuery = (id: string) =>
  queryOptions({
    queryKey: imageKeys.detail(id),
    queryFn: () => fetchJson<ImageDto>(`/api/v1/images/${encodeURIComponent(id)}`),
    refetchInterval: LIST_REFRESH_MS,
  });

/** Per-host cache state comes from heartbeats: poll like the lists. */
export const imageHostsQuery = (id: string) =>
  queryOptions({
    queryKey: imageKeys.hosts(id),
    queryFn: () => fetchJson<{ items: ImageHostDto[] }>(`/api/v1/images/${encodeURIComponent(id)}/hosts`),
    refetchInterval: LIST_REFRESH_MS,
  });

export function evictImageRequest(id: string, hostId: string) {
  return fetchJson<ImageEvictResult>(`/api/v1/images/${encodeURIComponent(id)}/evict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ hostId }),
  });
}

/** What an upload answers (201): lib/schemas/api.ts storedImageDtoSchema. */
export type UploadedImage = StoredImageDto;

export function patchImage(id: string, body: { name?: string; family?: string | null; visibility?: ImageVisibility }) {
  return fetchJson(`/api/v1/images/${encodeURIComponent(id)}`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

export function deleteImageRequest(id: string) {
  return fetchJson(`/api/v1/images/${encodeURIComponent(id)}`, { method: "DELETE" });
}

export type UploadHandle = { done: Promise<UploadedImage>; abort: () => void };

/** POSTs the form to /api/v1/images, reporting bytes sent. Text fields must be appended before files. */
export function startImageUpload(form: FormData, onProgress: (sent: number, total: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<UploadedImage>((resolve, reject) => {
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      let body: { error?: { code?: string; message?: string } } | null = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* non-JSON (proxy error page): handled below */
      }
      if (xhr.status === 201) return resolve(body as UploadedImage);

      reject(
        new ApiRequestError(
          body?.error?.message ?? `Upload failed (${xhr.status})`,
          xhr.status,
          body?.error?.code ?? "unknown",
        ),
      );
    };
    xhr.onerror = () =>
      reject(
        new ApiRequestError(
          "The connection closed during the upload (the server may have refused the file, e.g. over the size limit). Try again.",
          0,
          "network",
        ),
      );
    xhr.onabort = () => reject(new ApiRequestError("Upload cancelled; nothing was kept on the server.", 0, "aborted"));
  });
  xhr.open("POST", "/api/v1/images");
  xhr.setRequestHeader("accept", "application/json");
  xhr.send(form);
  return { done, abort: () => xhr.abort() };
}
