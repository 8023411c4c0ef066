// Public library entry. Later modules (engine, planner, formats) are exported from here.
export * from './errors';
export { requestGpu, OPTIONAL_FEATURES, type GpuContext, type DeviceOptions, type AdapterSummary } from './gpu/device';
