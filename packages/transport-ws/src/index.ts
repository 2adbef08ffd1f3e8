/**
 * @unisocket/transport-ws — the native WebSocket transport (protocol v1 over `ws`).
 * @packageDocumentation
 */
export {
  NativeTransport,
  type NativeTransportOptions,
  type Admission,
  type AdmissionCheck,
  type AdmissionContext,
} from './native-transport';
