/**
 * How the two guidance passes exit. 'separate': each on its own at θ. 'weighted': each on its own,
 * the unconditional pass at θ·g/|1 − g| (see unconditionalPolicy). 'shallow': the conditional pass
 * exits at θ, the unconditional one always at minDepth (see unconditionalPolicy). 'all'/'any':
 * both share one batched pass, which exits when all (any) of them are confident. A leaf module:
 * the manifest's schema and the parameters both name them.
 */
export const PASS_BATCHINGS = ['separate', 'weighted', 'shallow', 'all', 'any'] as const;
export type PassBatching = (typeof PASS_BATCHINGS)[number];
