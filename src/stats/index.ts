// The stats surface: the server the emperor runs, and the client side `emperor status` uses.
export { startStatsServer, clearStaleSocket, StatsServer } from './server';
export { fetchStats } from './client';
export { formatStatusTable, formatDuration, formatBytes } from './table';
export { parseStatsAddress, StatsAddress } from './address';
