/^dom\.example$/ REJECT domain key
/^sub\.parent\.example$/ REJECT parent key
/^lp@$/ REJECT localpart key
/^base@ext\.example$/ REJECT base address key
/^full\+tag@ext\.example$/ REJECT full address key
/^Mixed@any\.example$/ REJECT case kept
