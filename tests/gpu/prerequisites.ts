import { ensureVulkanForDawn } from '../prereq';

// globalSetup for the gpu tier: fail the whole tier at once, with the install command, when
// Vulkan or SwiftShader is missing. The env var set here is inherited by the test workers.
export default function setup(): void {
  ensureVulkanForDawn();
}
