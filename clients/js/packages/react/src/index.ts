export { CarcosaProvider, useCarcosaClient } from "./context.js";
export type { AnyClient } from "./context.js";
export { useUpload } from "./useUpload.js";
export type { UploadFile, UploadFileState, UploadState, UseUpload, UseUploadOptions } from "./useUpload.js";
export { UploadButton, UploadDropzone } from "./components.js";
export type { UploadButtonProps, UploadComponentProps, UploadDropzoneProps } from "./components.js";
export { formatBytes } from "./parts.js";
export { forRoutes } from "./typed.js";
export type { TypedHelpers } from "./typed.js";
