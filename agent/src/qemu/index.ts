// QEMU itself: the command line, qemu-img, the KVM probe and the QMP client.
export {
  buildQemuArgs,
  CDROM_ID,
  chooseAccel,
  MACHINE_ALIAS,
  machineFamilyFits,
  rootPortId,
  volumeBlockdev,
  volumeDevice,
  volumeNodeName,
  VOLUME_PORTS,
  type Accel,
  type QemuBoot,
  type QemuLaunchConfig,
  type QemuNic,
  type QemuVolume,
} from "./argv";
export {
  convertToQcow2,
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
export { QmpJobError, runQmpJob } from "./qmp-job";
export {
  flattenToQcow2,
  imageSnapshot,
  listImageSnapshots,
  SNAPSHOT_TAG,
  type ImageSnapshotInfo,
} from "./snapshot-img";
