// Prerequisite checks shared by the gpu and e2e tiers. A missing prerequisite fails the run
// with the exact install command: never a silent skip.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
export const INSTALL_HINT = 'apt-get update && apt-get install -y chromium libvulkan1   (as root; or run: bash scripts/setup-system.sh)';

export class MissingPrerequisiteError extends Error {
  override name = 'MissingPrerequisiteError';
}

function hasVulkanLoader(): boolean {
  try {
    return execFileSync('ldconfig', ['-p'], { encoding: 'utf8' }).includes('libvulkan.so.1');
  } catch {
    return ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib/libvulkan.so.1'].some(existsSync);
  }
}

/**
 * Points Vulkan at SwiftShader unless the caller chose a driver (VK_ICD_FILENAMES set) or asked
 * for the machine's own GPU (GLM_WEBGPU_NATIVE=1, used on the GPU machine).
 */
export function ensureVulkanForDawn(): void {
  if (!hasVulkanLoader()) {
    throw new MissingPrerequisiteError(`The Vulkan loader (libvulkan.so.1) is missing, so Dawn cannot start. Install it: ${INSTALL_HINT}`);
  }
  if (process.env.VK_ICD_FILENAMES || process.env.GLM_WEBGPU_NATIVE === '1') return;
  if (!existsSync(SWIFTSHADER_ICD)) {
    throw new MissingPrerequisiteError(
      `SwiftShader's Vulkan driver (${SWIFTSHADER_ICD}, shipped with Debian's chromium) is missing. Install it: ${INSTALL_HINT}. ` +
        'On a machine with a real GPU set GLM_WEBGPU_NATIVE=1 instead.',
    );
  }
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function ensureChromium(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new MissingPrerequisiteError(`Headless Chromium is missing at ${CHROMIUM_PATH}. Install it: ${INSTALL_HINT}`);
  }
}
