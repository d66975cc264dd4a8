/** How much work each scenario does: the full run, and --quick (under a minute in all). */

export interface Plan {
  rounds: number;
  /** Length of one contender's round in the throughput scenarios. */
  roundMs: number;
  /** Chats per contender per round at concurrency 1. */
  latencyChats: number;
  warmupOps: number;
  soakChats: number;
  soakStreams: number;
  continuityTurns: number;
}

export const FULL: Plan = {
  rounds: 10,
  roundMs: 1_500,
  latencyChats: 1_000,
  warmupOps: 1_000,
  soakChats: 100_000,
  soakStreams: 10_000,
  continuityTurns: 10_000,
};

export const QUICK: Plan = {
  rounds: 3,
  // Six stream contenders, two stream scenarios: 0.4 s rounds keep the whole run under a minute.
  roundMs: 400,
  latencyChats: 250,
  warmupOps: 200,
  soakChats: 5_000,
  soakStreams: 1_000,
  continuityTurns: 500,
};
