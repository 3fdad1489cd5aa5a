DROP TABLE member_removals;
