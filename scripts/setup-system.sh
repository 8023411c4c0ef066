#!/usr/bin/env bash
# System packages the test tiers need (Debian/Ubuntu): Chromium for the e2e tier, and with it
# SwiftShader's Vulkan driver (/usr/lib/chromium/vk_swiftshader_icd.json) plus the Vulkan loader
# for Dawn in the gpu tier. Idempotent; uses sudo when not root.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if [ -x /usr/bin/chromium ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] && ldconfig -p | grep -q libvulkan.so.1; then
  echo "setup-system: chromium, SwiftShader and libvulkan1 already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium libvulkan1 fonts-dejavu-core
