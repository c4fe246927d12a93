// The stats surface: the server the emperor runs, and the client side `emperor status` uses.
export { startStatsServer, clearStaleSocket, StatsServer } from './stats-server';
export { fetchStats, fetchStatsText } from './stats-client';
export { formatStatusTable, formatDuration, formatBytes } from './stats-table';
export { parseStatsAddress, StatsAddress } from './address';
