// The shape of a Hugging Face Hub repo id, alone in a module so the page-side client can recognise one
// without bundling the Hub loader (src/loader/hub.ts).

/** One path segment of a repo id: an org or a repo name. */
export const HUB_NAME = '[A-Za-z0-9][A-Za-z0-9._-]*';
/** "org/repo", "org/repo@rev" or "hf:org/repo": groups 1-3 are org, repo and revision. */
export const HUB_REPO_ID = new RegExp(`^(?:hf:)?(${HUB_NAME})/(${HUB_NAME})(?:@([A-Za-z0-9._/-]+))?$`);

/**
 * True for a bare Hub repo id ("THUDM/glm-edge-1.5b-chat", optionally "@rev" or an "hf:" prefix). A
 * relative folder path must end with "/" or start with "./" to be read as a path instead.
 */
export function isHubRepoId(source: string): boolean {
  return HUB_REPO_ID.test(source) && !source.endsWith('.gguf');
}
