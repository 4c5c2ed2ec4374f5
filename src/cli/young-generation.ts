import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation (new space) at its starting size: imported first by the
 * CLI, before any other module runs.
 *
 * Why: V8 doubles the young generation while start-up allocates (module loading, the
 * test camera's frames) up to two 16 MB halves, and gives the room back only in a
 * memory-reducing collection, which it starts only while the process allocates little.
 * A server re-encoding for slow viewers allocates just enough never to qualify: measured
 * (1080p60, 2 of 10 viewers re-encoded), 16.8 MB of young generation with 11.9 MB of it
 * resident, against 2.1 MB once V8 did reduce it; RSS 98 to 113 MB from run to run on
 * which of the two happened. Without the growth, young collections come more often and
 * each is as cheap: camstream allocates about 500 bytes per frame delivered, so at 300
 * viewers of a 60 fps camera that is a few small collections a second.
 *
 * The flag is read each time V8 would grow the space, so setting it here, once the VM
 * runs, takes effect (Node warns that flags set late may do nothing; this one is read
 * late by design). Only the CLI does it: a library does not change its host's V8.
 */
setFlagsFromString('--semi-space-growth-factor=1');
