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
  /** Rounds of the realistic-host scenario (each one wave of 64 streams at 20 ms per token). */
  hostRounds: number;
  /** Tokens per stream in the realistic-host scenario. */
  hostStreamTokens: number;
  /** workerNice values the realistic-host scenario runs parley with, besides its defaults; --host-nice 5,10. */
  hostNice: number[];
  /** Fresh processes per contender in the lifecycle scenario (start-up and shutdown); the median is reported. */
  lifecycleSamples: number;
}

export const FULL: Plan = {
  rounds: 10,
  roundMs: 1_500,
  latencyChats: 1_000,
  warmupOps: 1_000,
  soakChats: 100_000,
  soakStreams: 10_000,
  continuityTurns: 10_000,
  hostRounds: 4,
  hostStreamTokens: 200,
  hostNice: [5],
  lifecycleSamples: 15,
};

export const QUICK: Plan = {
  // Two rounds of 0.4 s; parley w4 and stream c=64 (information only) run in the full run only: most of a
  // quick run is starting contenders.
  rounds: 2,
  roundMs: 400,
  latencyChats: 200,
  warmupOps: 100,
  soakChats: 5_000,
  soakStreams: 1_000,
  continuityTurns: 500,
  // Two rounds of 0.5 s streams: enough to see it run, not to trust the p99.
  hostRounds: 2,
  hostStreamTokens: 25,
  hostNice: [5],
  lifecycleSamples: 5,
};
