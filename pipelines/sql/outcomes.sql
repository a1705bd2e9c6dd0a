-- churn outcomes query: what happened to the SCORE members after the snapshot (CHURN_OUTCOMES, empty
-- until `churn warehouse seed --outcomes` or a real feed loads it). Read only by churn_monitor: no
-- training or scoring input reads this table.
SELECT MSNO, IS_CHURN, KNOWN_AT
FROM CHURN_OUTCOMES
ORDER BY MSNO
