// QEMU itself: the command line, qemu-img, the KVM probe and the QMP client.
export { buildQemuArgs, chooseAccel, type Accel, type QemuBoot, type QemuLaunchConfig, type QemuNic } from "./argv";
export {
  createQcow2,
  gbToBytes,
  imageInfo,
  QemuImgError,
  resizeImage,
  type ImageFormat,
  type QemuImgInfo,
} from "./img";
export { probeKvm, type KvmProbeResult } from "./probe";
export { QmpClient, QmpConnectionError, QmpError, type QmpEvent } from "./qmp";
