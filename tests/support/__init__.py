"""What the tests share: AWS in-process (`aws`), the handlers driven as API Gateway and Lambda
drive them (`api`), what the functions print (`logs`) and the events side of the stack on moto
(`events_stack`, whose fixtures the root conftest registers)."""
