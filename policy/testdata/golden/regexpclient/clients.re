/^name\.example$/ REJECT name regexp
/^parent\.example$/ REJECT parent regexp
/^203\.0\.113\.7$/ REJECT address regexp
/^203\.0\.113$/ REJECT short address regexp
/^unknown$/ REJECT unknown regexp
