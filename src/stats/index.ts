// The stats surface: the server the emperor runs, and the client side `emperor status` uses.
export { startStatsServer, StatsServer } from './server';
export { fetchStats } from './client';
export { formatStatusTable, formatDuration } from './table';
export { parseStatsAddress, StatsAddress } from './address';
