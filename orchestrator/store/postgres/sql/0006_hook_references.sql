-- Version 6: a delivery keeps no command line nor URL, only what may be shown (a command's
-- program, a webhook's URL without its query): the hook itself is taken from the config
-- or the manifest's own `on_finish` at each attempt, so write access to this table does
-- not choose what a daemon runs. Earlier rows are rewritten the same way.

UPDATE hook_deliveries
SET target = json_build_object('shown', target::json -> 'command' ->> 0)::text
WHERE kind = 'command' AND target::json -> 'command' IS NOT NULL;

UPDATE hook_deliveries
SET target = json_build_object('shown', split_part(target::json ->> 'url', '?', 1))::text
WHERE kind = 'webhook' AND target::json -> 'url' IS NOT NULL;
