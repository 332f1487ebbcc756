export { createClient } from "./client.js";
export type { CarcosaClient, ClientOptions, Files, ListOptions, UploadArgs, WaitOptions } from "./client.js";
export { UploadTask } from "./task.js";
export type { FileState, FileStatus, UploadCallbacks, UploadOptions, UploadProgress } from "./task.js";
export { CarcosaError, isCarcosaError } from "./errors.js";
export type { CarcosaErrorInit } from "./errors.js";
export { MemoryUrlStorage } from "./tus.js";
export type { PreviousUpload, UrlStorage } from "./tus.js";
export { finalStates, isFinal } from "./types.js";
export type {
  FieldError,
  QuotaLeft,
  RouteInfo,
  RouteInput,
  RouteMap,
  RouteName,
  RouteResult,
  RoutesOf,
  SchemaField,
  UploadPage,
  UploadRecord,
  UploadState,
} from "./types.js";
