-- Version 8: a delivery keeps no command line nor URL, only what may be shown (a command's
-- program, a webhook's URL without its query): the hook itself is taken from the config
-- or the manifest's own `on_finish` at each attempt, so write access to this table does
-- not choose what a daemon runs. Earlier rows are rewritten the same way.

UPDATE hook_deliveries
SET target = json_object('shown', json_extract(target, '$.command[0]'))
WHERE kind = 'command' AND json_extract(target, '$.command') IS NOT NULL;

UPDATE hook_deliveries
SET target = json_object('shown', CASE
        WHEN instr(json_extract(target, '$.url'), '?') > 0
        THEN substr(json_extract(target, '$.url'), 1, instr(json_extract(target, '$.url'), '?') - 1)
        ELSE json_extract(target, '$.url')
    END)
WHERE kind = 'webhook' AND json_extract(target, '$.url') IS NOT NULL;
